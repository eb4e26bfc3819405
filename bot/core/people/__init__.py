"""People: who is acting, their defaults, ratings and reactions, and their say over their data."""
