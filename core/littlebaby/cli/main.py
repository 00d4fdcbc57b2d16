"""`littlebaby`'s entry point: parse the arguments (arguments.py), run the command (commands.py), and turn a
`UserError` (or a broken plugin's warning) into one line on stderr in this command's flags (flags.py); a user
mistake exits with code 2 and no traceback. Under an MPI launcher, train and finetune run on every process
and agree on errors; the other commands run on rank 0 alone.
"""

import errno
import os
import sys
import warnings

from littlebaby.cli.arguments import parser as _parser
from littlebaby.cli.commands import COMMANDS
from littlebaby.cli.flags import one_line, said
from littlebaby.errors import UserError
from littlebaby.system import threads
from littlebaby.training import distributed
from littlebaby.training.stopping import exit_code, quit_on_signals

TRAINING = ("train", "finetune")  # run on every MPI process; the other commands on one


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"littlebaby: warning: {one_line(str(message))}", file=sys.stderr, flush=True)


def _one_process(command) -> bool:
    """Commands other than train and finetune run on one process: under an MPI launcher, rank 0
    does the work (saying so once) and the others leave at once without starting MPI."""
    size, rank = distributed.launched()
    if size > 1 and rank == 0:
        print(
            f"littlebaby: {command} runs on one process; the other {size - 1} have nothing to do",
            file=sys.stderr,
            flush=True,
        )
    return rank == 0


def _user_error(world, error) -> int:
    """One line (once per job) and exit code 2; under MPI every rank leaves together."""
    if world.size > 1 and not world.agreed:
        try:
            world.agree(error)  # the setup's collective: every rank learns of the first failure
        except UserError as first:
            error = first
    elif world.size > 1 and not isinstance(error, distributed.SharedError):  # only this rank may know: end the job
        print(f"littlebaby: error on rank {world.rank}: {said(error)}", file=sys.stderr, flush=True)
        world.abort(2)
    if world.is_root and distributed.launched()[1] == 0:  # launched: also when MPI could not start
        print(f"littlebaby: error: {said(error)}", file=sys.stderr, flush=True)
    return 2


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    warnings.showwarning = _warning_line  # a broken plugin: one line, the other plugins keep working
    threads.one_heap()  # before any thread allocates (system/threads.py)
    world = distributed.Solo()
    try:
        if args.command in TRAINING:
            # MPI when a launcher started several processes; then an uncaught exception on any
            # rank ends the job (distributed.py's excepthook), never a hang. A run stops at a
            # step's end and saves (session.py).
            world = distributed.world()
            if not world.is_root:
                sys.stdout = open(os.devnull, "w")  # rank 0 alone prints
            code = COMMANDS[args.command](args)
        elif not _one_process(args.command):
            return 0
        else:
            with quit_on_signals():
                code = COMMANDS[args.command](args)
    except UserError as error:
        return _user_error(world, error)
    except KeyboardInterrupt as quit:
        code = exit_code(getattr(quit, "signal", "SIGINT"))  # a second SIGTERM still exits 143
        print("littlebaby: interrupted", file=sys.stderr, flush=True)
        world.abort(code)
        return code
    except BrokenPipeError:  # `littlebaby generate ... | head`
        return 0
    except OSError as error:  # a path the system refuses to look up at all, wherever it was first touched
        if error.errno not in (errno.ENAMETOOLONG, errno.ELOOP) or error.filename is None:
            raise
        fix = (
            "give a shorter path"
            if error.errno == errno.ENAMETOOLONG
            else "give a path without a loop of symbolic links"
        )
        return _user_error(world, UserError(f"path {error.filename}: {error.strerror}", fix))
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
