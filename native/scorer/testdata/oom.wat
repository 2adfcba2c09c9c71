(module
  (memory (export "memory") 1)
  (func (export "gptailor_alloc") (param i32) (result i32) (i32.const 1024))
  ;; grows memory a page at a time until the host refuses, then gives up the
  ;; way a Go guest does: with a trap
  (func (export "gptailor_score") (param i32 i32) (result i32)
    (block $done
      (loop $grow
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    unreachable)
  (func (export "gptailor_result") (result f64) (f64.const 1))
  (func (export "gptailor_message") (result i64) (i64.const 0)))
