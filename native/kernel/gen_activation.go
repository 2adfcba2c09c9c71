//go:build ignore

// gen_activation.go adds to kernel_amd64.s the vector passes of the newer
// architectures' layers (Gemma's GeGLU with tanh GELU, Gemma 2's soft
// capping), built on gen_amd64.go's vector exp.
package main

// activationRoutines writes geluMulAVX2 and softCapAVX2; expBody is
// gen_amd64.go's vector exp (Y2 = exp(Y0), constants in Y3…Y14 from
// expConsts, clobbers Y0, Y1, Y15).
func activationRoutines(w func(string, ...any), expBody func(loadP0 string)) {
	// GELU (tanh form) · up: gelu(g) = g / (1 + exp(t)),
	// t = g·(c1 + c3·g²), c1 = −2√(2/π), c3 = c1·0.044715 — the same
	// value as 0.5·g·(1 + tanh(√(2/π)(g + 0.044715g³))) without tanh.
	w("")
	w("// func geluMulAVX2(h, gate, up *float32, n int, c1, c3 float32) // n a multiple of 8")
	w("TEXT ·geluMulAVX2(SB), NOSPLIT, $0-40")
	w("\tMOVQ h+0(FP), DI")
	w("\tMOVQ gate+8(FP), SI")
	w("\tMOVQ up+16(FP), DX")
	w("\tMOVQ n+24(FP), CX")
	expConsts(w)
	w("geluloop:")
	w("\tCMPQ CX, $8")
	w("\tJLT geludone")
	w("\tVMOVUPS (SI), Y1 // g")
	w("\tVMULPS Y1, Y1, Y0 // g²")
	w("\tVBROADCASTSS c3+36(FP), Y2")
	w("\tVMULPS Y2, Y0, Y0")
	w("\tVBROADCASTSS c1+32(FP), Y2")
	w("\tVADDPS Y2, Y0, Y0 // c1 + c3·g²")
	w("\tVMULPS Y1, Y0, Y0 // t")
	w("\tVMINPS Y3, Y0, Y0")
	expBody("VMOVAPS Y8, Y2")
	w("\tVADDPS Y14, Y2, Y2 // 1 + exp(t)")
	w("\tVMOVUPS (SI), Y1")
	w("\tVDIVPS Y2, Y1, Y1")
	w("\tVMULPS (DX), Y1, Y1")
	w("\tVMOVUPS Y1, (DI)")
	w("\tADDQ $32, SI")
	w("\tADDQ $32, DI")
	w("\tADDQ $32, DX")
	w("\tSUBQ $8, CX")
	w("\tJMP geluloop")
	w("geludone:")
	w("\tVZEROUPPER")
	w("\tRET")

	// Soft cap: x = cap·tanh(x/cap) = cap − 2cap / (1 + exp(2x/cap)),
	// in place.
	w("")
	w("// func softCapAVX2(x *float32, n int, inv2, twoCap, cap float32) // n a multiple of 8")
	w("TEXT ·softCapAVX2(SB), NOSPLIT, $0-28")
	w("\tMOVQ x+0(FP), SI")
	w("\tMOVQ n+8(FP), CX")
	expConsts(w)
	w("caploop:")
	w("\tCMPQ CX, $8")
	w("\tJLT capdone")
	w("\tVBROADCASTSS inv2+16(FP), Y1")
	w("\tVMULPS (SI), Y1, Y0 // 2x/cap")
	w("\tVMINPS Y3, Y0, Y0")
	expBody("VMOVAPS Y8, Y2")
	w("\tVADDPS Y14, Y2, Y2 // 1 + exp(2x/cap)")
	w("\tVBROADCASTSS twoCap+20(FP), Y1")
	w("\tVDIVPS Y2, Y1, Y1")
	w("\tVBROADCASTSS cap+24(FP), Y0")
	w("\tVSUBPS Y1, Y0, Y0")
	w("\tVMOVUPS Y0, (SI)")
	w("\tADDQ $32, SI")
	w("\tSUBQ $8, CX")
	w("\tJMP caploop")
	w("capdone:")
	w("\tVZEROUPPER")
	w("\tRET")
}
