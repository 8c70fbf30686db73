"""Rendering: HTML pages (``html``) and the noise report's page and plots (``noise_html``).

Rendering only: the numbers are computed one layer down or beside (``qsdaqec.experiments``);
the plots of a run (ROC, confusion, curves) are :mod:`qsdaqec.plots`.
"""
