import torch

from hyperprune.data import load_digits_task


def test_digits_are_8_steps_of_8_features_in_a_fixed_disjoint_split():
    data = load_digits_task()
    assert (data.steps, data.input_size, data.num_classes) == (8, 8, 10)
    sizes = [data.split(s)[0].shape[0] for s in ("train", "valid", "test")]
    assert sizes == [1439, 179, 179]
    assert data.train_x.shape[1:] == (8, 8) and data.train_x.dtype == torch.float32
    assert 0.0 <= float(data.train_x.min()) and float(data.train_x.max()) <= 1.0
    again = load_digits_task()
    assert torch.equal(data.valid_x, again.valid_x) and torch.equal(data.test_y, again.test_y)
    # No image is in two splits (the bundled set has no exact duplicates across our split).
    rows = {tuple(x.flatten().tolist()) for x in data.train_x}
    assert not any(tuple(x.flatten().tolist()) in rows for x in data.test_x)
    assert set(data.train_y.tolist()) == set(range(10))
