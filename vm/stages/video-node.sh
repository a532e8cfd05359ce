#!/bin/sh
# Sourced by the stages that look a video node up by name (not a stage).
# node NAME: the /dev/video* node whose sysfs name starts with NAME; status 1
# when there is none.
node() {
	for d in /sys/class/video4linux/video*; do
		case "$(cat "$d/name")" in "$1"*) echo "/dev/$(basename "$d")" && return 0 ;; esac
	done
	return 1
}
