"""Reports: plots (ROC, confusion matrix, training curves), noise-robustness report, tables.

Submodules import lazily (matplotlib is only loaded when a plot is drawn).
"""
