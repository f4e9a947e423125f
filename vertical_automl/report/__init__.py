"""Report building blocks: the evaluation handed to vertical report sections."""
