"""Errors a user can cause and fix (config, missing data, corrupt files, bad arguments)."""


class UserError(Exception):
    """A problem the user can fix; the CLI prints its message alone, without a traceback.

    The message names the problem and the fix, e.g. "missing annotation file
    data/raw/sop/Ebay_train.txt: SOP expects <root>/Ebay_train.txt, ...".
    """
