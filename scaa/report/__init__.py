"""The ablation summary: one table (CSV) and one self-contained HTML page."""
