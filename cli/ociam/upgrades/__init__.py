"""Safe upgrades: version changes, the update-compatibility decision, the backup gate,
staged rollouts with a health gate per city, and the restore drill (docs/engines.md)."""
