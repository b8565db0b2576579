"""Reports: an offline static HTML leaderboard built only from run directories."""
