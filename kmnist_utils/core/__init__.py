"""Files and folders, torch-free: the project's folders (``paths``), atomic writes (``atomic``), one writer per
output folder (``runlock``), the KMNIST files found, checked and decoded (``data``), and this machine's CPU
(``machine``). Imports nothing of the package but ``settings``."""
