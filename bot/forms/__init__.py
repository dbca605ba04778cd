"""Forms: the modal forms (risk, intake, outcome) checked by the conversation's own steps."""
