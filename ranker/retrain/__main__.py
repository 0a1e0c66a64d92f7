"""``python -m ranker.retrain --config FILE``: see ranker.retrain.run."""

from ranker.retrain.run import main

raise SystemExit(main())
