"""``python -m recmodel.retrain --config FILE``: see recmodel.retrain.run."""

from recmodel.retrain.run import main

raise SystemExit(main())
