"""Analyses over many runs: sensitivity, scenario discovery, robustness and calibration."""
