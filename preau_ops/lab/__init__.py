"""The local lab: Debian 12 hosts as Docker containers running systemd, reached over SSH.

`engine` makes sure a Docker engine answers, `image` builds the host images, `hosts` creates
the containers of a topology and writes the lab inventory.
"""
