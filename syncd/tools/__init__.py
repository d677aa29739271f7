"""Thin wrappers, one per external tool syncd drives."""
