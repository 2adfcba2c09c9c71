(module
  (memory (export "memory") 1)
  (data (i32.const 16) "no tasks in the document")
  (func (export "gptailor_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "gptailor_score") (param i32 i32) (result i32) (i32.const 3))
  (func (export "gptailor_result") (result f64) (f64.const 0))
  (func (export "gptailor_message") (result i64) (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 24))))
