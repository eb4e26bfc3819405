"""Moderation in one place: words a server refuses, and what its moderators may do."""
