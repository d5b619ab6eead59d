"""LearningTool: learn from your own material, offline by default."""
