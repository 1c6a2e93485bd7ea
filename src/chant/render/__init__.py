"""Renderers: turn the event stream into human, JSON or JSON Lines output."""
