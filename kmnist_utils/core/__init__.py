"""Files and folders, torch-free: the project's folders (``paths``), atomic writes (``atomic``), one writer per
output folder (``runlock``), the KMNIST files found, checked and decoded (``data``), this machine's CPU
(``machine``) and what each chapter cost in a profile's recorded run (``records``). Imports nothing of the
package but ``settings``."""
