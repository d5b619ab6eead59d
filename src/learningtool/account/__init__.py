"""The signed-in user's own account: who they are, their tokens, rotating or revoking one.
Managing other users is the command line's (`learningtool users`), the operator's tool."""
