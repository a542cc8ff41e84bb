import LockstepCLI

// The composition root: the commands build their adapters (local storage, the host's file system).
LockstepCommand.start()
