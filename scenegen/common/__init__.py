"""The ground floor: helpers every layer above shares (atomic files, JSON documents, bounded
reads, camera framing and views, point-set geometry). Nothing here imports anything above the
core types (camera, gaussians)."""
