"""The `grantflow` console command."""
