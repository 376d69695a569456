"""The shipped demo checkpoint is the default model and follows the demo's mannequins.

Ground truth comes from the synthetic scene itself (exact boxes and joints of the rendered
bodies), so the check is independent of the model's own outputs."""
import numpy as np

from ros_phmr.demo import DEMO_MODEL_LABEL, default_model_config, describe_model, load_demo_body
from ros_phmr.eval import joint_errors, match_people
from ros_phmr.pipeline import Pipeline
from ros_phmr.synthetic import SceneConfig, SyntheticScene


def test_default_demo_checkpoint_finds_and_fits_the_demo_mannequins():
    config = default_model_config(device="cpu", log=None)
    assert describe_model(config) == DEMO_MODEL_LABEL
    pipeline = Pipeline(config)
    assert pipeline.shared_backbone            # one fused backbone pass per frame
    body, _, _ = load_demo_body(None)
    scene = SyntheticScene(body, SceneConfig(), seed=0)
    found = total = 0
    pa_mpjpe = []
    for index in range(0, 120, 10):
        frame = scene.frame(index)
        people = pipeline.process(frame.image, frame.K).people
        boxes = np.array([p.box_xyxy for p in people], np.float64).reshape(-1, 4)
        pairs = match_people(boxes, frame.boxes)
        total += len(frame.boxes)
        found += len(pairs)
        pa_mpjpe += [joint_errors(people[i].joints_3d, frame.joints[j])[1] for i, j in pairs]
    # Measured for the shipped checkpoint (box head, offset votes): 30 of 36 (0.83), median PA-MPJPE
    # 87 mm (a dozen frames, so noisy: the one before it found 29 at 66 mm, then 30 at 66 mm, then 29 at 73 mm, then 30
    # at 68 mm, the last one boxed by its meshes 28 at 87 mm, earlier ones 28 at 84, 28 at 106 and
    # 27 at 83, while on the 500-image held-out set each improves on the one before); earlier ones
    # found 0.75 at 91 mm, 0.61 at 97 mm, 0.56 at 99 mm and 0.33 at 146 mm; random weights find
    # nobody at IoU 0.5.
    assert found / total >= 0.65
    assert np.median(pa_mpjpe) <= 120.0
