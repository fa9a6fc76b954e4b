"""Graph wire shapes (driveItem, drive, error, asyncJobStatus) rendered from domain objects."""
