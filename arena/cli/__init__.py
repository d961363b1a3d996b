"""``flask --app arena ...`` commands: thin wrappers over the service modules."""

from flask import Flask


def init_app(app: Flask) -> None:
    from arena.cli.backup import backup_command, restore_command
    from arena.cli.catalogue import models_group
    from arena.cli.dbcopy import init_app as init_dbcopy
    from arena.cli.demo import demo_command
    from arena.cli.doctor import doctor_command
    from arena.cli.export import export_group
    from arena.cli.judge import judge_command, judges_group
    from arena.cli.leaderboard import leaderboard_group
    from arena.cli.pregen import pregenerate_command
    from arena.cli.prompts import prompts_group
    from arena.cli.think import think_command
    from arena.cli.worker import worker_command

    models_group.add_command(think_command)  # `models think TAG SETTING`
    app.cli.add_command(models_group)
    app.cli.add_command(prompts_group)
    app.cli.add_command(pregenerate_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(judge_command)
    app.cli.add_command(judges_group)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(export_group)
    app.cli.add_command(leaderboard_group)
    app.cli.add_command(doctor_command)
    app.cli.add_command(demo_command)
    init_dbcopy()  # `flask db copy`, beside Flask-Migrate's own `db` commands
