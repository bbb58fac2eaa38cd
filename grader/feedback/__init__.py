"""Feedback a student can look at: their attention weights on the public example, drawn beside the expected ones.

example.py records the matrices while grading; heatmaps.py draws them as SVG, terminal.py as text, and pages.py
builds the feedback and class pages from JSON reports.
"""
