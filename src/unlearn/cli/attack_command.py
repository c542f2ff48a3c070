"""``unlearn attack``: robustness attacks on an unlearned model, and how much of the knowledge comes back."""

from __future__ import annotations

from unlearn.config import add_part_flags, add_renamed_flags, add_settings_flags, resolve_settings


def register(commands) -> None:
    from unlearn.attacks.catalog import ATTACKS
    from unlearn.attacks.settings import RENAMED_BOOLEANS, AttackSettings

    parser = commands.add_parser(
        "attack", help="robustness audit: relearning, quantization, prompt attacks, logit lens; recovery per attack",
        description="Attack an unlearned model (--model; any model folder, whoever unlearned it) and measure how much "
                    "of what it forgot comes back, against the model before unlearning (--original) and beyond what "
                    "the same attack gives a model that never saw the forget data (--control, the retain model): "
                    "recovery = (E(a, a_C) - E(u, c)) / (E(o, a_C) - E(u, c)) with E(x, y) = max(x - y, 0) per forget "
                    "metric, with a paired bootstrap interval, and the worst case over attacks (chosen on half the "
                    "questions, reported on the other half). Without --control, recovery is (a - u) / (o - u), "
                    "against the unattacked floor. --attacks all runs every attack; see --list-attacks. Each attack "
                    "owns its settings, given as --ATTACK.SETTING (--relearn.epochs 2) or in YAML as attack_args: "
                    "{relearn: {epochs: 2}}; settings of an attack not run are refused. Settings come from --config "
                    "YAML and flags (flags win).")
    parser.add_argument("--list-attacks", action="store_true",
                        help="list every attack (kind, what it does, its settings' flags) and exit")
    parser.add_argument("--rescore", metavar="FOLDER",
                        help="rewrite the attack summary of a finished attack folder from the files its attacks "
                             "wrote, with recovery as this release defines it, without running an attack again; "
                             "other settings are the folder's own")
    add_settings_flags(parser, AttackSettings)
    with_settings = {name: attack for name, attack in ATTACKS.items() if attack.settings}
    add_part_flags(parser, {name: attack.settings for name, attack in with_settings.items()},
                   {name: f"attack {name}" for name in with_settings})
    add_renamed_flags(parser, AttackSettings, RENAMED_BOOLEANS)
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.list_attacks:
        from unlearn.attacks.catalog import attack_list

        print(attack_list())
        return 0
    from unlearn.attacks.table import format_attack_table

    if args.rescore:
        from unlearn.attacks.run import rescore_attacks

        print(format_attack_table(rescore_attacks(args.rescore)))
        print(f"attack summary rewritten in {args.rescore}")
        return 0
    from unlearn import api
    from unlearn.attacks.settings import AttackSettings

    result = api.attack(settings=resolve_settings(AttackSettings, args))
    print(format_attack_table(result.summary))
    print(f"attacks written to {result.out}")
    return 0
