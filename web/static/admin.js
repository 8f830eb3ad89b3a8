// Dashboard script: see below.
