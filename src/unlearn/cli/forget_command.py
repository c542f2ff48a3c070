"""``unlearn forget``: run an unlearning method and save the unlearned model."""

from __future__ import annotations

from unlearn.cli.plan_command import add_plan_flags, run_from_forget
from unlearn.config import add_part_flags, add_renamed_flags, add_settings_flags, resolve_settings
from unlearn.objectives.registry import every_part, method_table
from unlearn.selection.registry import rule_list, rules
from unlearn.training.curve_settings import CurveSettings
from unlearn.training.forget_settings import ForgetSettings


def register(commands) -> None:
    parser = commands.add_parser(
        "forget", help="unlearn a forget split with a method such as ME+GD, NPO+GD, IDK+AP",
        description="Unlearn a forget split and save the model. A method is FORGET[+REGULARIZER] or a method of "
                    "another family; see --list-methods. Each part of a method owns its settings, given as "
                    "--PART.SETTING (--npo.beta 0.2) or in YAML as method_args: {NPO: {beta: 0.2}}; a part the "
                    "method does not use is refused. Settings come from --config YAML and flags (flags win). "
                    "--curve.* evaluates a fixed subset during training (OUT/trajectory.json); --select RULE saves the "
                    "checkpoint the rule chooses as the model.")
    parser.add_argument("--list-methods", action="store_true", help="list forget terms and regularizers and exit")
    parser.add_argument("--list-rules", action="store_true", help="list the checkpoint selection rules (--select) "
                                                                  "with their settings and exit")
    add_forget_flags(parser, ForgetSettings, "evaluation during training")
    add_renamed_flags(parser, ForgetSettings)
    add_plan_flags(parser, in_forget=True)
    parser.set_defaults(handler=run)


def add_forget_flags(parser, settings: type[ForgetSettings], curve_use: str) -> None:
    """The flags of ``settings`` (ForgetSettings or a command's extension of them, ``unlearn tune``'s) with
    those of every method part (``--npo.beta``), the curve (``--curve.*``, used for ``curve_use``) and
    each selection rule (``--utility-floor.fraction``)."""
    add_settings_flags(parser, settings)
    parts = every_part()
    add_part_flags(parser, {name: model for name, (model, _) in parts.items()},
                   {name: used_by for name, (_, used_by) in parts.items()})
    add_part_flags(parser, {"curve": CurveSettings}, {"curve": curve_use})
    add_part_flags(parser, {name: rule.settings for name, rule in rules().items()},
                   {name: f"--select {name}" for name in rules()})


def run(args) -> int:
    if args.list_methods:
        print(method_table())
        return 0
    if args.list_rules:
        print(rule_list())
        return 0
    if args.plan:  # no weights loaded, nothing written
        return run_from_forget(args)
    from unlearn import api

    result = api.forget(resolve_settings(ForgetSettings, args))
    if result.summary:  # empty on the processes other than the main one
        for key, value in result.summary.items():
            print(f"{key:>20}: {value}")
        print(f"unlearned model saved to {result.out}")
    return 0
