"""Contact refinement in the manner of ProsePose: make named body regions of two people touch,
keeping what the image showed.

A constraint names two people and several *samples* of region pairs, as a vision-language
model answering "which body parts of person 1 touch which of person 2" n times would give
them, with coarse region names and no left/right ("hand" - "shoulder"). The loss of one sample
is the minimum, over every left/right assignment of its chiral regions, of the sum of
region-to-region minimum distances (a base part named twice in one sample must use both sides);
the contact loss of a constraint is the mean over its samples. Optimised are each constrained
person's body-joint rotations (increments on the decoder's pose, each the vector part of an
unnormalised quaternion: exact rotations in a few ops) and translation, with:

* the 2D projection of the body joints kept where the decoder put them,
* a pull towards the decoder's pose,
* a cheap interpenetration term between inscribed spheres on the skeleton (joints and bone
  midpoints, radius = distance to the nearest rest-mesh vertex), which never fights a contact
  because inscribed spheres of touching surfaces do not overlap,
* a fixed number of Adam steps.

Only the vertices that the contact term reads (farthest-point samples of each region) are
skinned during the optimisation, from the :class:`ros_phmr.body.BodyModel`'s own arrays and
forward kinematics; the final people are posed with the full model. The whole optimisation
(every step's forward, backward and Adam update) has fixed shapes and no host
synchronisation, so on CUDA it is captured as ONE CUDA graph per problem layout (people count,
padded constraint size, config) and later calls copy their inputs in and replay it: the step
is a few hundred tiny kernels, and launching them one by one from Python costs ~20 times more
than running them. ``RefineConfig.compile`` additionally fuses the loss and its gradient with
``torch.compile`` (CUDA only; compiled on the first call of a layout).

:class:`RefineWorker` runs refinements on a thread (latest request wins; ``submit`` never
blocks) and delivers the refined people with the source stamp.
"""
from ros_phmr.refine.constraints import (CHIRAL_PARTS, MAX_READINGS, ContactConstraint, region_choices,
                                        samples_from_tables, validate_constraint)
from ros_phmr.refine.kinematics import (NUM_BODY_JOINTS_2D, ancestor_tables, increment_rotation,
                                       skew_generators, sphere_proxies)
from ros_phmr.refine.refiner import LOG, ContactRefiner, RefineConfig, RefineResult, pose_people
from ros_phmr.refine.worker import RefineCallback, RefineWorker

__all__ = ["CHIRAL_PARTS", "LOG", "MAX_READINGS", "NUM_BODY_JOINTS_2D", "ContactConstraint", "ContactRefiner",
           "RefineCallback", "RefineConfig", "RefineResult", "RefineWorker", "ancestor_tables",
           "increment_rotation", "pose_people", "region_choices", "samples_from_tables", "skew_generators",
           "sphere_proxies", "validate_constraint"]
