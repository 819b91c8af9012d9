"""The shared generation engines: the static-cache engine (compiled on a GPU) must give the same
greedy outputs as the eager one, whatever the batch size, padding or order."""
import pytest

from sanitize.generation import generate_ids, resolve_engine
from sanitize.testing import tiny_lm


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=3)


def _prompts(tok):
    texts = ["a", "the river", "a longer prompt about the harbour and its lamps",
             "x y z", "numbers 1 2 3 4 5 6", "q"]
    return [tok(t, add_special_tokens=False)["input_ids"] for t in texts]


def _run(lm, prompts, engine, batch_size, budgets, eos=None, **kw):
    tok = lm.tokenizer
    return generate_ids(lm.model, prompts, pad_id=tok.pad_token_id,
                        eos_id=tok.eos_token_id if eos is None else eos,
                        max_new_tokens=budgets, seeds=[0] * len(prompts),
                        batch_size=batch_size, engine=engine, do_sample=False, **kw)


def test_static_engine_gives_the_eager_greedy_outputs(lm):
    prompts = _prompts(lm.tokenizer)
    budgets = [5, 9, 3, 12, 7, 1]
    eager = _run(lm, prompts, "eager", 2, budgets)
    assert [len(o) for o in eager] == budgets  # a random tiny model never says eos here
    for batch_size in (1, 4, 6):  # padded rows and rounded cache lengths change nothing
        assert _run(lm, prompts, "static", batch_size, budgets) == eager
        assert _run(lm, prompts, "eager", batch_size, budgets) == eager


def test_outputs_stop_at_the_first_eos_and_keep_it(lm):
    prompts = _prompts(lm.tokenizer)
    free = _run(lm, prompts, "eager", 3, [10] * len(prompts))
    # Pretend the token each output generated second is the end of text.
    for p, out in zip(prompts, free):
        eos = out[1]
        (cut,) = _run(lm, [p], "eager", 1, [10], eos=eos)
        assert cut == out[:out.index(eos) + 1]


def test_on_done_reports_every_prompt_once_with_its_tokens(lm):
    prompts = _prompts(lm.tokenizer)
    seen = {}
    out = _run(lm, prompts, "static", 4, [4] * len(prompts),
               on_done=lambda i, toks: seen.setdefault(i, toks))
    assert seen == dict(enumerate(out))


def test_engine_choice():
    assert resolve_engine("auto", "cuda:0") == "static"
    assert resolve_engine("auto", "cpu") == "eager"
    assert resolve_engine("eager", "cuda") == "eager"
    with pytest.raises(ValueError):
        resolve_engine("fast", "cpu")
