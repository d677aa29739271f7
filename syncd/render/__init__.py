"""Rendering what the service sees: environment sources merged and quoted into a drop-in."""
