"""Results read back from the record: the leaderboard (``report``), Optuna's plots of a
study (``study_plots``, for grid searches too) and a forecast's plot against the actual
series (``forecast_plot``).

Above tracking and search; nothing below imports it.
"""
