"""Rendering: result formats, --query, error rendering and progress. Heavy imports are lazy."""
