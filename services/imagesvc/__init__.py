"""imagesvc: content store, overlayfs snapshots and image records (pallet.images)."""
