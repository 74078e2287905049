"""What a run reports: the paper's table, ``metrics.json`` and the confusion matrices (``run_report``),
attention examples (figure 2), log scaling (figure 3), one prediction's figure and figures sent to the loggers
(``figures``), a run's and a sweep's curves (``sweep_plots``); ``plots`` draws."""
