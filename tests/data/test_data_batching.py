import torch

from hyperprune.data import (
    batchify,
    classification_batches,
    epoch_windows,
    eval_windows,
    probe_sequences,
    probe_tokens,
    window_batch,
    window_count,
)


def test_batchify_makes_contiguous_columns_and_drops_the_tail():
    data = batchify(torch.arange(23), 4)
    assert data.shape == (5, 4)
    assert data[:, 1].tolist() == [5, 6, 7, 8, 9]


def test_an_epoch_predicts_every_target_exactly_once_in_contiguous_windows():
    rows, bptt = 53, 7
    source = batchify(torch.arange(rows * 3), 3)
    for epoch in (1, 2, 3):
        windows = epoch_windows(rows, bptt, seed=5, epoch=epoch)
        assert len(windows) == window_count(rows, bptt) == 8
        targets = []
        for w in windows:
            x, y = window_batch(source, w)
            assert torch.equal(y[:-1], x[1:])  # targets are the next tokens
            targets += y[:, 0].tolist()
        assert sorted(targets) == list(range(1, rows))
        # The state is reset only where the text is not contiguous with the previous window.
        for prev, w in zip(windows, windows[1:]):
            assert w.reset == (w.start != prev.start + prev.length)
        assert windows[0].reset


def test_epoch_order_depends_on_seed_and_epoch_only():
    first = [w.start for w in epoch_windows(400, 10, seed=1, epoch=3)]
    assert first == [w.start for w in epoch_windows(400, 10, seed=1, epoch=3)]
    starts = {tuple(w.start for w in epoch_windows(400, 10, seed=1, epoch=e)) for e in range(1, 9)}
    assert len(starts) > 1
    other_seed = {tuple(w.start for w in epoch_windows(400, 10, seed=2, epoch=e)) for e in range(1, 9)}
    assert other_seed != starts


def test_max_batches_caps_an_epoch_and_successive_epochs_see_different_text():
    capped = [epoch_windows(1_000, 10, seed=0, epoch=e, max_batches=5) for e in range(1, 6)]
    assert all(len(c) == 5 for c in capped)
    assert len({c[0].start for c in capped}) > 1


def test_evaluation_reads_the_stream_in_order():
    windows = eval_windows(25, 10)
    assert [(w.start, w.length, w.reset) for w in windows] == [(0, 10, True), (10, 10, False), (20, 4, False)]
    assert len(eval_windows(25, 10, max_batches=1)) == 1


def test_classification_batches_are_a_fresh_permutation_per_epoch():
    one = torch.cat(classification_batches(103, 10, seed=0, epoch=1))
    two = torch.cat(classification_batches(103, 10, seed=0, epoch=2))
    assert sorted(one.tolist()) == list(range(103)) == sorted(two.tolist())
    assert not torch.equal(one, two)
    assert torch.equal(one, torch.cat(classification_batches(103, 10, seed=0, epoch=1)))
    assert len(classification_batches(103, 10, seed=0, epoch=1, max_batches=3)) == 3


def test_probe_tokens_are_evenly_spaced_windows_of_the_stream():
    stream = torch.arange(1_000)
    probe = probe_tokens(stream, batch=4, length=45)
    assert probe.shape == (45, 4)
    assert probe[0].tolist() == [0, 318, 637, 955]  # first at 0, last ending at the stream's end
    assert torch.equal(probe[:, 2], torch.arange(637, 682))
    assert torch.equal(probe, probe_tokens(stream, batch=4, length=45))


def test_probe_sequences_chain_consecutive_examples():
    x = torch.arange(20 * 8 * 2, dtype=torch.float32).reshape(20, 8, 2)
    probe = probe_sequences(x, batch=3, length=20)
    assert probe.shape == (20, 3, 2)
    assert torch.equal(probe[:8, 0], x[0]) and torch.equal(probe[8:16, 0], x[1]) and torch.equal(probe[16:, 0], x[2, :4])
    assert torch.equal(probe[:8, 2], x[17])
