;; Grows its table 2^20 entries at a time until the host refuses.
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (func (export "gptailor_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "gptailor_score") (param i32 i32) (result i32)
    (block $done
      (loop $grow
        (br_if $done (i32.eq (table.grow $t (ref.null func) (i32.const 1048576)) (i32.const -1)))
        (br $grow)))
    (i32.const 0))
  (func (export "gptailor_result") (result f64) (f64.const 1))
  (func (export "gptailor_message") (result i64) (i64.const 0)))
