"""Rendering: terminal tables here; HTML reports and the static leaderboard beside them."""
