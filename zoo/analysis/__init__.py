"""Analysis tools for any zoo classifier: adversarial attacks, MC-dropout uncertainty, gradient checks,
and the from-scratch NumPy MLP that the zoo's models are compared to."""
