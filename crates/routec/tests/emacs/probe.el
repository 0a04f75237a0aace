;;; probe.el --- drives eglot against `routec lsp' in batch mode -*- lexical-binding: t -*-

;; Loaded by crates/routec/tests/emacs.rs after the Emacs setup of
;; editors/README.md, copied verbatim: opens a broken policy (which must
;; start `route-mode' and, through `eglot-ensure', the server), waits for
;; the diagnostics to reach flymake, asks for a hover and completions, shuts
;; the server down (`shutdown', then `exit'), and writes what it saw to a JSON file for the Rust test
;; to check. Only APIs of eglot 1.9 (Debian 12's elpa-eglot, Emacs 28) and
;; later are used.
;;
;; Environment: ROUTEC_POLICY (the file to open), ROUTEC_OUT (where to write
;; the JSON), ROUTEC_HOVER_LINE and ROUTEC_HOVER_CHARACTER (0-based
;; position to hover), ROUTEC_EMPTY_LINE (0-based line to complete on).

(require 'json)
(require 'cl-lib)

(defvar routec-report nil "What the probe saw, as an alist.")
(defvar routec-published nil "Versions of the diagnostics eglot received.")

(defun routec-note (key value)
  (push (cons key value) routec-report))

(defun routec-wait (what predicate)
  "Process events until PREDICATE holds; fail after 60 s waiting for WHAT."
  (let ((deadline (+ (float-time) 60)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate)
      (error "Timed out waiting for %s" what))))

(defun routec-goto (line character)
  (goto-char (point-min))
  (forward-line line)
  (forward-char character))

(defun routec-probe ()
  (with-eval-after-load 'eglot
    (advice-add 'eglot-handle-notification :before
                (lambda (_server method &rest params)
                  (when (eq method 'textDocument/publishDiagnostics)
                    (push (plist-get params :version) routec-published)))))
  (find-file (getenv "ROUTEC_POLICY"))
  (routec-note 'major_mode (symbol-name major-mode))
  ;; `eglot-ensure' connects after the next command; batch mode runs none.
  (run-hooks 'post-command-hook)
  (routec-wait "eglot to connect" #'eglot-current-server)
  (routec-wait "diagnostics" (lambda () routec-published))
  (routec-note 'published (vconcat routec-published))
  (flymake-start)
  (routec-wait "flymake" #'flymake-diagnostics)
  (routec-note 'diagnostics
               (vconcat
                (mapcar (lambda (d)
                          `((line . ,(line-number-at-pos (flymake-diagnostic-beg d)))
                            (column . ,(save-excursion
                                         (goto-char (flymake-diagnostic-beg d))
                                         (current-column)))
                            (type . ,(symbol-name (flymake-diagnostic-type d)))
                            (message . ,(flymake-diagnostic-text d))))
                        (flymake-diagnostics))))
  (let ((server (eglot-current-server)))
    (routec-goto (string-to-number (getenv "ROUTEC_HOVER_LINE"))
                 (string-to-number (getenv "ROUTEC_HOVER_CHARACTER")))
    (let* ((hover (jsonrpc-request server :textDocument/hover
                                   (eglot--TextDocumentPositionParams)))
           (contents (plist-get hover :contents)))
      (routec-note 'hover_kind (plist-get contents :kind))
      (routec-note 'hover_value (plist-get contents :value)))
    (routec-goto (string-to-number (getenv "ROUTEC_EMPTY_LINE")) 0)
    (let* ((result (jsonrpc-request server :textDocument/completion
                                    (eglot--TextDocumentPositionParams)))
           (items (if (vectorp result) result (plist-get result :items))))
      (routec-note 'completions
                   (vconcat
                    (mapcar (lambda (item)
                              `((label . ,(plist-get item :label))
                                (kind . ,(plist-get item :kind))
                                (format . ,(plist-get item :insertTextFormat))
                                (text . ,(plist-get (plist-get item :textEdit) :newText))))
                            items))))
    ;; What `eglot-shutdown' sends, without its next step (which kills
    ;; the process at once, before its exit status can be seen).
    (let ((process (jsonrpc--process server)))
      (setf (eglot--shutdown-requested server) t)
      (jsonrpc-request server :shutdown nil)
      (jsonrpc-notify server :exit nil)
      (routec-wait "the server to exit" (lambda () (not (process-live-p process))))
      (routec-note 'server_exit (process-exit-status process)))))

(condition-case err
    (routec-probe)
  (error (routec-note 'failure (error-message-string err))))
(with-temp-file (getenv "ROUTEC_OUT")
  (insert (json-encode routec-report)))
(kill-emacs 0)
