"""Helpers shared by the course labs."""
