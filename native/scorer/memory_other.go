//go:build !linux

package scorer

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default (a growing Go slice) off Linux.
var memoryAllocator experimental.MemoryAllocator
