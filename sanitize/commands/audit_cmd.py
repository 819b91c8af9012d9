"""`soft-sanitize audit`: prove a protected dataset resists membership inference, or audit any
fine-tuned model. A thin layer over `sanitize.auditing.run` and `sanitize.auditing.report`."""
from __future__ import annotations

import click

from ..cli_common import EVAL_BATCH_HELP, config_file, config_option, console, emit_json, \
    json_option, train_config_from, train_options
from ..auditing.config import ALL_ATTACKS as ATTACK_NAMES
from ..config import BackendName, SanitizeConfig, ScoreKind, TrainConfig, choices
from ..errors import InputError
from ..records import FORMAT_NAMES


def _attacks(_ctx, _param, value):
    if value is None:
        return ATTACK_NAMES
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in ATTACK_NAMES]
    if unknown or not names:
        raise click.BadParameter(f"unknown attack(s) {', '.join(unknown) or '(none)'}; choose "
                                 f"from {','.join(ATTACK_NAMES)}")
    return names


_FILE = click.Path(dir_okay=False)


@click.command("audit")
@click.option("--original", type=_FILE, help="Dataset mode: the unprotected training set (IN).")
@click.option("--protected", type=_FILE, help="Dataset mode: its protected version (OUT).")
@click.option("--manifest", type=_FILE, default=None,
              help="Dataset mode: the sanitize manifest of --protected, to tell rewritten "
                   "members from removed ones [default: OUT.manifest.json when it exists].")
@click.option("--nonmembers", type=_FILE,
              help="Records never trained on (the attacks' negatives), same domain as members.")
@click.option("--holdout-fraction", type=float, default=None,
              help="Instead of --nonmembers/--protected: hold out this fraction of --original "
                   "(seeded), sanitize the rest with the settings below, and compare.")
@click.option("--out-dir", required=True, type=click.Path(file_okay=False),
              help="Folder for report.json/.md/.html and member_scores.csv.")
@click.option("--model", default=None,
              help="Dataset mode: the LM to fine-tune (default: embedded SmolLM2-135M). Model "
                   "mode (with --members): the fine-tuned model to attack (HF or PEFT folder).")
@click.option("--members", type=_FILE, help="Model mode: records the model was trained on.")
@click.option("--reference", default=None,
              help="Model mode: the base model (reference attack, SPV-MIA; default: a PEFT "
                   "adapter's own base). Also the base of a PEFT adapter given as --model.")
@click.option("--validation", type=_FILE, default=None,
              help="Held-out records for perplexity [default: the non-members].")
@click.option("--attacks", callback=_attacks, default=None,
              help=f"Comma-separated subset [default: all: {','.join(ATTACK_NAMES)}].")
@click.option("--fail-above-auc", type=float, default=None,
              help="Exit 1 when the strongest attack's 0.5 + |AUC - 0.5| on the protected "
                   "(model mode: the given) model exceeds this (an AUC below 0.5 leaks too), "
                   "on all members or, where members were removed, on those left in training "
                   "(when at least 10 are).")
@click.option("--allow-overlap", is_flag=True,
              help="Audit even when non-members repeat members (up to case/spacing, or as "
                   "near-duplicates); by default that stops the audit (exit 2).")
@click.option("--strict", is_flag=True,
              help="Dataset mode: exit 1 when the distribution control (the cheap attacks on "
                   "the untouched base model) finds members and non-members differ.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto",
              show_default=True)
@click.option("--bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap resamples for the 95% confidence intervals (0: none).")
@click.option("--neighbours", type=int, default=8, show_default=True,
              help="Refilled copies per text (15% of the scored tokens redrawn from the base "
                   "model): the neighbourhood attack's neighbours and SPV-MIA's perturbations.")
@click.option("--spv-new-tokens", type=int, default=64, show_default=True,
              help="Tokens the target generates per text for SPV-MIA's self-prompt reference.")
@click.option("--spv-epochs", type=float, default=None,
              help="Epochs of SPV-MIA's reference fine-tune [default: --epochs].")
@click.option("--eval-batch-size", type=click.IntRange(min=1), default=None,
              help=f"Texts per scoring batch [default: {EVAL_BATCH_HELP}].")
@click.option("--ratio", type=float, default=None,
              help="--holdout-fraction: fraction of members to paraphrase [main default 0.5].")
@click.option("--score", "risk_score", type=click.Choice(choices(ScoreKind)), default=None,
              help="--holdout-fraction: risk score [main command's default].")
@click.option("--paraphraser", type=click.Choice(choices(BackendName)),
              default=None, help="--holdout-fraction: paraphrase backend [local].")
@click.option("--paraphrase-model", default=None, help="--holdout-fraction: paraphrase model.")
@click.option("--sanitize-config", type=_FILE, default=None,
              help="--holdout-fraction: the main command's --config TOML (its option names, "
                   "e.g. min-similarity = 0.8), for the member part's protection.")
@train_options
@json_option
@config_option
@click.pass_context
def command(ctx: click.Context, **kw) -> None:
    """Attack fine-tuned models with membership-inference attacks and report how exposed the
    training records are, before and after protection.

    Dataset mode fine-tunes --model (default: the embedded LM) twice, on --original and on
    --protected, with the same settings and seed, then attacks both with the ORIGINAL member
    texts against --nonmembers. Model mode attacks a model you already trained.

    \b
    Examples:
      soft-sanitize audit --original train.jsonl --protected protected.jsonl \\
          --nonmembers holdout.jsonl --out-dir audit/ --epochs 2
      soft-sanitize audit --original train.jsonl --holdout-fraction 0.5 --ratio 0.5 \\
          --out-dir audit/
      soft-sanitize audit --model ./my-finetune --members train.jsonl \\
          --nonmembers holdout.jsonl --reference ./base-model --out-dir audit/
      soft-sanitize audit ... --attacks loss,reference,minkpp --fail-above-auc 0.6
    """
    from dataclasses import replace

    from ..auditing.config import AttackConfig, AuditConfig
    from ..auditing.report import left_in_training, print_table, write_reports
    from ..auditing.run import run

    train = train_config_from(kw)
    model_mode = kw["members"] is not None
    if model_mode and not kw["model"]:
        raise InputError("--members is model mode: also pass --model (the fine-tuned model)")
    if model_mode and (kw["original"] or kw["protected"] or kw["holdout_fraction"]):
        raise InputError("use either model mode (--model --members) or dataset mode "
                         "(--original --protected), not both")
    if kw["manifest"] and (model_mode or kw["holdout_fraction"] is not None):
        raise InputError("--manifest goes with --protected (--holdout-fraction writes and "
                         "reads its own)")
    if not model_mode and kw["reference"]:
        raise InputError("--reference is for model mode; in dataset mode the base model "
                         "(--model) is the reference")
    cfg = AuditConfig(
        out_dir=kw["out_dir"], original=kw["original"], protected=kw["protected"],
        manifest=kw["manifest"],
        holdout_fraction=kw["holdout_fraction"], nonmembers=kw["nonmembers"],
        model_path=kw["model"] if model_mode else None, members=kw["members"],
        reference=kw["reference"], validation=kw["validation"],
        base_model=None if model_mode else kw["model"], fmt=kw["fmt"], attacks=kw["attacks"],
        attack=AttackConfig(neighbours=kw["neighbours"],
                            spv_new_tokens=kw["spv_new_tokens"], spv_epochs=kw["spv_epochs"]),
        train=train, eval_batch_size=kw["eval_batch_size"], bootstrap=kw["bootstrap"],
        seed=train.seed, fail_above_auc=kw["fail_above_auc"],
        allow_overlap=kw["allow_overlap"])
    if kw["holdout_fraction"] is not None:
        cfg = replace(cfg, sanitize=holdout_sanitize_config(kw, train, cfg.base_model))
    from ..auditing.run import input_paths, output_paths
    from ..paths import check_outputs, private_mode

    # The option files are inputs too; run() checks the data files and model folders.
    check_outputs({"--config": config_file(), "--sanitize-config": kw["sanitize_config"]},
                  output_paths(cfg))
    result = run(cfg, log=lambda msg: console.log(msg))
    report = write_reports(result, cfg.out_dir, private_mode(*input_paths(cfg).values()))
    print_table(result, console)
    if result.too_small:
        console.print(f"[yellow]warning[/yellow]: {result.too_small}")
    if result.shifted:
        console.print(f"[yellow]warning[/yellow]: distribution shift: the untouched base model "
                      f"tells members from non-members ({', '.join(result.shifted)}); draw "
                      "non-members from the members' source (report.md, Notes)")
    console.print(f"perplexity measured on {result.perplexity_on}")
    console.print(f"reports in {cfg.out_dir}/ (report.json, report.md, report.html, "
                  "member_scores.csv)")
    if kw["as_json"]:
        emit_json(report)
    if result.shifted and kw["strict"]:
        console.print("[red]FAIL[/red]: --strict and the distribution control found a shift")
        ctx.exit(1)
    last = result.models[-1]
    strongest = last.strongest()
    if cfg.fail_above_auc is not None and result.too_small:
        console.print(f"[red]FAIL[/red]: --fail-above-auc cannot pass an audit whose AUCs are "
                      f"{result.too_small}")
        ctx.exit(1)
    if cfg.fail_above_auc is not None and strongest is not None:
        from ..auditing.metrics import leakage

        auc = last.metrics[strongest].auc.value
        if leakage(auc) > cfg.fail_above_auc:  # an AUC of 0.2 leaks like 0.8
            console.print(f"[red]FAIL[/red]: strongest attack on the {last.label} model "
                          f"({strongest}) has AUC {auc:.3f}, leakage {leakage(auc):.3f} > "
                          f"{cfg.fail_above_auc}")
            ctx.exit(1)
        # Removing members lowers the whole-set AUC without protecting the members left.
        left = left_in_training(result)
        if left is not None and not left[3].auc.note:  # a group too small to measure: no call
            what, attack, _, met = left
            if leakage(met.auc.value) > cfg.fail_above_auc:
                console.print(f"[red]FAIL[/red]: strongest attack on the {what} ({attack}) "
                              f"has AUC {met.auc.value:.3f}, leakage "
                              f"{leakage(met.auc.value):.3f} > {cfg.fail_above_auc}")
                ctx.exit(1)


def holdout_sanitize_config(kw: dict, train: TrainConfig, base_model: str | None
                            ) -> SanitizeConfig:
    """How --holdout-fraction protects its member part: the main command's defaults, then
    --sanitize-config (the main command's --config file, read by the main command's own
    parser, so the keys are the same), then this command's flags. The warm-up keeps the main
    command's epochs; device, seed and max length follow the audit. The paths are set by
    auditing.run.split_holdout."""
    from .sanitize_cmd import command as sanitize_command, config_from_params

    args = ["members", "protected"]
    if kw["sanitize_config"]:
        args += ["--config", kw["sanitize_config"]]
    for option, value in (("--ratio", kw["ratio"]), ("--score", kw["risk_score"]),
                          ("--paraphraser", kw["paraphraser"]),
                          ("--paraphrase-model", kw["paraphrase_model"]),
                          ("--model", base_model), ("--device", train.device),
                          ("--seed", train.seed), ("--max-length", train.max_length)):
        if value is not None:
            args += [option, str(value)]
    with sanitize_command.make_context("sanitize", args) as ctx:
        params = dict(ctx.params)
    params.pop("as_json", None)
    return config_from_params(params)
