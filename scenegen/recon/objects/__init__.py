"""Objects: split a reconstructed scene into named objects, from masks, from motion or from
geometry, each with its Gaussians in its own frame and a Track placing it in the world.

Labels come from one of three sources, all giving one integer per background Gaussian (0: stays
in the background):
- masks (`labels_from_masks`): in every masked view each Gaussian whose centre is in the frame
  and not hidden votes for the mask value under it; a Gaussian takes its most voted value.
  Gaussians that no view saw (a single first-frame mask leaves the far side unseen) take the
  label of their nearest neighbours, and a spatial majority vote removes speckle (`clean_labels`);
- motion (recon/objects/from_motion.py): Gaussians whose trajectories move together (training itself
  first looks for moving objects without masks, recon/objects/from_still_fit.py, and trains those it finds
  as rigid bodies; this grouping is what is left when it finds none);
- geometry (recon/objects/from_geometry.py): the clusters standing on the supporting plane.

`split_objects` turns labels into objects. An object's canonical frame is centred on its
Gaussians at the middle of the time range; when its Gaussians move, its Track is the rigid motion
that best carries them over time (weighted Kabsch at each sample time), and what the rigid motion
does not explain stays as per-Gaussian motion in the object's frame.
"""

from .find import METHODS, describe_objects, find_objects
from .split import split_objects

__all__ = ["METHODS", "describe_objects", "find_objects", "split_objects"]
